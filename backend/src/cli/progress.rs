//! Progress bars on stderr for the long commands (apply, destroy: steps done
//! and the current step; verify: pairs measured of all), drawn only when
//! stderr is a terminal and the output is not JSON: piped or scripted output
//! stays exactly the lines the commands print.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::deploy::Event;

/// A bar, or nothing when it would not be seen by a person.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// Steps of an apply or destroy: how many are done and which ran last
    /// (the executor does not know the total before it has observed each host).
    pub fn steps(json: bool) -> Bar {
        Bar::shown(json, || {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner} {pos} steps done  {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        })
    }

    /// Pairs of a verify, of the report's total (known from the first probe).
    pub fn pairs(json: bool) -> Bar {
        Bar::shown(json, || {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} pairs measured  {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            // The clock runs on while a round of pings waits for its replies.
            b.enable_steady_tick(std::time::Duration::from_millis(500));
            b
        })
    }

    fn shown(json: bool, make: impl FnOnce() -> ProgressBar) -> Bar {
        Bar((!json && std::io::stderr().is_terminal()).then(make))
    }

    /// Advance by one event, printing what `print` says about it above the bar.
    pub fn event(&self, e: &Event, print: &(impl Fn(&Event) + Sync)) {
        let Some(b) = &self.0 else {
            return print(e);
        };
        b.suspend(|| print(e));
        match &e.probe {
            Some(p) => {
                b.set_length(p.total as u64);
                b.set_position(p.done as u64);
            }
            None => {
                b.inc(1);
                b.set_message(e.step.clone());
            }
        }
    }

    /// Gone before the command's result is printed.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
