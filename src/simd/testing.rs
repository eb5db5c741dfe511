//! What the differential tests share: input generators, buffers that end at an unmapped
//! page, and the report of variants that could not run.

use std::io::Write;

/// Runs `test` if `available`, and otherwise says on stderr, and on the terminal even when
/// the test harness captures output, that `variant` was skipped and why, so that a run on a
/// CPU without it cannot be read as a pass. Returns whether it ran.
pub(crate) fn run_or_skip(variant: &str, available: bool, test: impl FnOnce()) -> bool {
    if available {
        test();
        return true;
    }
    let line = format!("SKIPPED {variant}: this CPU does not have the instruction set it needs\n");
    eprint!("{line}");
    // libtest captures stderr; the controlling terminal, where there is one, is not.
    if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = tty.write_all(line.as_bytes());
    }
    false
}

/// A small, fast, seeded generator (xorshift64*): the same inputs on every run, so that a
/// failure reproduces.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `len` bytes, each drawn from `alphabet`.
    pub(crate) fn bytes_from(&mut self, alphabet: &[u8], len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

/// Every string of length `0..=max_len` over `alphabet`: for exhaustive small inputs.
pub(crate) fn all_strings(alphabet: &[u8], max_len: usize) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    let mut level = vec![Vec::new()];
    for _ in 0..max_len {
        let mut next = Vec::with_capacity(level.len() * alphabet.len());
        for s in &level {
            for &c in alphabet {
                let mut t: Vec<u8> = s.clone();
                t.push(c);
                next.push(t);
            }
        }
        out.extend(next.iter().cloned());
        level = next;
    }
    out
}

/// Two pages mapped, the second made inaccessible: [`GuardPage::tail`] places bytes so
/// that they end exactly where the inaccessible page starts, so a kernel that reads one
/// byte past its input faults instead of passing.
pub(crate) struct GuardPage {
    base: *mut u8,
    page: usize,
}

impl GuardPage {
    pub(crate) fn new() -> Self {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        // SAFETY: an anonymous private mapping of two pages, checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap of two pages failed");
        // SAFETY: the second page lies inside the mapping just made.
        let rc =
            unsafe { libc::mprotect(base.cast::<u8>().add(page).cast(), page, libc::PROT_NONE) };
        assert_eq!(rc, 0, "mprotect of the guard page failed");
        Self {
            base: base.cast(),
            page,
        }
    }

    /// `bytes` copied to end at the guard page (at most one page of them).
    pub(crate) fn tail(&mut self, bytes: &[u8]) -> &[u8] {
        assert!(
            bytes.len() <= self.page,
            "at most one page fits before the guard"
        );
        // SAFETY: the range lies in the first, writable page of the mapping, which lives as
        // long as `self`, and the borrow of `self` keeps it from being rewritten meanwhile.
        unsafe {
            let start = self.base.add(self.page - bytes.len());
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), start, bytes.len());
            std::slice::from_raw_parts(start, bytes.len())
        }
    }

    /// The page size: inputs up to this long fit in [`GuardPage::tail`].
    pub(crate) fn page_size(&self) -> usize {
        self.page
    }
}

impl Drop for GuardPage {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made; no borrow of it outlives `self`.
        unsafe { libc::munmap(self.base.cast(), 2 * self.page) };
    }
}

#[test]
fn guard_page_faults_past_the_end_is_not_tested_but_the_tail_ends_at_it() {
    let mut g = GuardPage::new();
    let page = g.page_size();
    let t = g.tail(b"abc");
    assert_eq!(t, b"abc");
    assert_eq!(
        (t.as_ptr() as usize + 3) % page,
        0,
        "the tail ends on a page boundary"
    );
}

#[test]
fn all_strings_counts() {
    assert_eq!(all_strings(b"ab", 3).len(), 1 + 2 + 4 + 8);
}
