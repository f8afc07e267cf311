//! The classic pcap file format: a 24-byte file header, then per packet a
//! 16-byte record header and the captured bytes. What `tcpdump -w` writes and
//! `wireshark -k -i -` reads; pcapng is not read.

use thiserror::Error;

/// Ethernet: the only link type netloom captures.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Magic of a file with nanosecond timestamps, as netloom writes it.
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PcapError {
    #[error("not a pcap file (it starts with {0:#010x}); pcapng is not read: save it as pcap")]
    Magic(u32),
    #[error("link type {0} is not Ethernet (1)")]
    LinkType(u32),
    #[error("cut short at byte {at}: {what}")]
    Truncated { at: usize, what: &'static str },
    #[error("the packet at byte {at} claims {len} bytes, more than the snap length {snaplen}")]
    TooLong { at: usize, len: u32, snaplen: u32 },
}

/// One captured packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The packet's length on the wire; `data` is shorter when the snap length cut it.
    pub orig_len: u32,
    pub data: &'a [u8],
}

/// The file header netloom writes: little-endian, nanosecond timestamps, Ethernet.
pub fn file_header(snaplen: u32) -> [u8; FILE_HEADER] {
    let mut h = [0; FILE_HEADER];
    h[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // 8..16: time zone and accuracy, both 0.
    h[16..20].copy_from_slice(&snaplen.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    h
}

/// Appends one packet's record to a file started with [`file_header`].
pub fn push_record(out: &mut Vec<u8>, p: &Packet<'_>) {
    let (secs, nanos) = (p.ts_ns / 1_000_000_000, p.ts_ns % 1_000_000_000);
    // pcap's seconds are 32 bits: fine until 2106.
    out.extend_from_slice(&(secs as u32).to_le_bytes());
    out.extend_from_slice(&(nanos as u32).to_le_bytes());
    out.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
    out.extend_from_slice(&p.orig_len.to_le_bytes());
    out.extend_from_slice(p.data);
}

/// The packets of a whole pcap file, in order.
pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    big_endian: bool,
    nanos: bool,
    pub snaplen: u32,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Result<Self, PcapError> {
        let Some(head) = b.get(..FILE_HEADER) else {
            return Err(PcapError::Truncated {
                at: b.len(),
                what: "the file header",
            });
        };
        let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let (big_endian, nanos) = match magic {
            MAGIC_MICROS => (false, false),
            MAGIC_NANOS => (false, true),
            m if m.swap_bytes() == MAGIC_MICROS => (true, false),
            m if m.swap_bytes() == MAGIC_NANOS => (true, true),
            m => return Err(PcapError::Magic(m.swap_bytes())),
        };
        let mut r = Reader {
            b,
            pos: FILE_HEADER,
            big_endian,
            nanos,
            snaplen: 0,
        };
        r.snaplen = r.u32_at(16);
        match r.u32_at(20) & 0xffff {
            LINKTYPE_ETHERNET => Ok(r),
            other => Err(PcapError::LinkType(other)),
        }
    }

    fn u32_at(&self, at: usize) -> u32 {
        let w = [self.b[at], self.b[at + 1], self.b[at + 2], self.b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    }

    fn record(&mut self) -> Result<Packet<'a>, PcapError> {
        let at = self.pos;
        if self.b.len() < at + RECORD_HEADER {
            return Err(PcapError::Truncated {
                at,
                what: "a record header",
            });
        }
        let (secs, frac) = (self.u32_at(at), self.u32_at(at + 4));
        let (len, orig_len) = (self.u32_at(at + 8), self.u32_at(at + 12));
        // A bound against a crafted length; 0 means "no snap length" in some writers.
        if self.snaplen != 0 && len > self.snaplen.max(65_535) {
            return Err(PcapError::TooLong {
                at,
                len,
                snaplen: self.snaplen,
            });
        }
        let start = at + RECORD_HEADER;
        let Some(data) = self.b.get(start..start + len as usize) else {
            return Err(PcapError::Truncated {
                at: self.b.len(),
                what: "a packet's bytes",
            });
        };
        self.pos = start + data.len();
        let frac_ns = if self.nanos {
            frac
        } else {
            frac.saturating_mul(1000)
        };
        Ok(Packet {
            ts_ns: u64::from(secs) * 1_000_000_000 + u64::from(frac_ns),
            orig_len,
            data,
        })
    }
}

/// The complete packets of a file still arriving (a live capture's
/// stream), from byte `from` on (0, or what the last call returned), and the
/// byte where the rest starts: a record cut short waits for more bytes
/// rather than being an error. Before the whole file header: nothing yet.
pub fn complete(b: &[u8], from: usize) -> Result<(Vec<Packet<'_>>, usize), PcapError> {
    if b.len() < FILE_HEADER {
        return Ok((Vec::new(), from));
    }
    let mut r = Reader::new(b)?;
    r.pos = from.max(FILE_HEADER);
    let mut out = Vec::new();
    while r.pos < b.len() {
        let at = r.pos;
        match r.record() {
            Ok(p) => out.push(p),
            Err(PcapError::Truncated { .. }) => return Ok((out, at)),
            Err(e) => return Err(e),
        }
    }
    Ok((out, r.pos))
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Packet<'a>, PcapError>;

    /// The next packet; after an error, nothing more.
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.b.len() {
            return None;
        }
        let r = self.record();
        if r.is_err() {
            self.pos = self.b.len();
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let mut file = file_header(256).to_vec();
        let a = Packet {
            ts_ns: 1_800_000_000_123_456_789,
            orig_len: 60,
            data: &[1; 60],
        };
        let b = Packet {
            ts_ns: 1_800_000_001_000_000_000,
            orig_len: 1500,
            data: &[2; 256],
        };
        push_record(&mut file, &a);
        push_record(&mut file, &b);
        let r = Reader::new(&file).unwrap();
        assert_eq!(r.snaplen, 256);
        let got: Vec<_> = r.map(Result::unwrap).collect();
        assert_eq!(got, [a, b]);
    }

    #[test]
    fn a_big_endian_microsecond_file_reads_too() {
        let mut file = Vec::new();
        for w in [MAGIC_MICROS, 0x0002_0004, 0, 0, 65_535, 1] {
            file.extend_from_slice(&w.to_be_bytes());
        }
        file.truncate(FILE_HEADER);
        for w in [5u32, 7, 2, 2] {
            file.extend_from_slice(&w.to_be_bytes());
        }
        file.extend_from_slice(&[9, 9]);
        let p = Reader::new(&file).unwrap().next().unwrap().unwrap();
        assert_eq!((p.ts_ns, p.data), (5_000_007_000, &[9u8, 9][..]));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        assert!(matches!(
            Reader::new(&[0; 10]),
            Err(PcapError::Truncated { .. })
        ));
        let pcapng = [0x0a, 0x0d, 0x0d, 0x0a].repeat(6);
        let e = Reader::new(&pcapng).err().unwrap();
        assert!(e.to_string().contains("pcapng is not read"), "{e}");
        let mut linux_sll = file_header(100);
        linux_sll[20] = 113;
        assert_eq!(
            Reader::new(&linux_sll).err(),
            Some(PcapError::LinkType(113))
        );

        let mut cut = file_header(100).to_vec();
        push_record(
            &mut cut,
            &Packet {
                ts_ns: 0,
                orig_len: 50,
                data: &[0; 50],
            },
        );
        cut.truncate(cut.len() - 1);
        let mut r = Reader::new(&cut).unwrap();
        assert!(matches!(r.next(), Some(Err(PcapError::Truncated { .. }))));
        assert!(r.next().is_none());

        let mut huge = file_header(100).to_vec();
        huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        assert!(matches!(
            Reader::new(&huge).unwrap().next(),
            Some(Err(PcapError::TooLong { .. }))
        ));
    }

    #[test]
    fn a_stream_is_read_as_its_records_complete() {
        let mut file = file_header(100).to_vec();
        const BYTES: [[u8; 3]; 3] = [[0; 3], [1; 3], [2; 3]];
        let p = |n: u8| Packet {
            ts_ns: u64::from(n),
            orig_len: 3,
            data: &BYTES[usize::from(n)],
        };
        push_record(&mut file, &p(1));
        push_record(&mut file, &p(2));
        // Every cut of the stream: what is complete is read once, in order.
        for cut in 0..=file.len() {
            let (first, at) = complete(&file[..cut], 0).unwrap();
            let (rest, end) = complete(&file, at).unwrap();
            let all: Vec<_> = first.into_iter().chain(rest).collect();
            assert_eq!(all, [p(1), p(2)], "cut at {cut}");
            assert_eq!(end, file.len());
        }
        assert_eq!(complete(&file[..30], 0).unwrap(), (vec![], 24));
        let mut huge = file_header(100).to_vec();
        huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        assert!(matches!(
            complete(&huge, 0),
            Err(PcapError::TooLong { at: 24, .. })
        ));
        assert!(matches!(complete(&[7; 24], 0), Err(PcapError::Magic(_))));
    }
}
