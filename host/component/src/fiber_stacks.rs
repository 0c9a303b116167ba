//! The fiber stacks of actors' calls under the on-demand allocator, kept
//! for reuse.
//!
//! An actor's calls run on a fiber (see [`crate::actor`]), and wasmtime
//! lends each Store the stack of its first call for the rest of its life.
//! Left to wasmtime's on-demand allocator, every new Store would map a
//! fresh stack and every dropped one unmap it: three system calls per
//! instance, the unmap flushing the TLB of each CPU running the host (an
//! interrupt between CPUs, a VM exit under a hypervisor). That doubled the
//! cost of an instance that lives briefly (a restart, `warden bench
//! instantiate`). Here a Store that goes puts its stack back on a shelf,
//! and the next Store takes it from there. (The pooling allocator keeps
//! stacks in its own pool and does not use this.)
//!
//! New stacks are carved from chunks of [`CHUNK_STACKS`], mapped at once,
//! rather than mapped one by one: a stack mapped on its own lands between
//! two instances' memories, which then no longer merge into one of the
//! kernel's mappings, and each instance cost one mapping more against
//! `vm.max_map_count` than its stack's two.
//!
//! Guarantees: a stack is lent to one Store at a time; every stack has an
//! inaccessible guard page below it, so an overflow faults (wasmtime reads
//! such a fault as a stack overflow) and never reaches other memory; the
//! shelf keeps at most [`KEEP`] stacks, unmapping the rest (together, see
//! [`UNWANTED_QUIET`]). A stack comes
//! back as its last call left it, unless wasmtime asks for zeroed stacks
//! (`async_stack_zeroing`): guest code cannot read the host's stack, so
//! nothing leaks between guests through it either way.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use rustix::mm::{Advice, MapFlags, MprotectFlags, ProtFlags};
use wasmtime::{StackCreator, StackMemory};

/// Stacks the shelf keeps at most: enough for the instances a busy host
/// starts and drops between two of its ticks, and a bound on what idle
/// stacks hold (two mappings each, and the pages their calls touched).
const KEEP: usize = 256;

/// Stacks beyond the shelf wait until no more came for this long, then go
/// together: each `munmap` flushes the TLB of every CPU running the host,
/// and stacks carved one after the other sit side by side, so all of them
/// sorted by address go in a few calls. A supervisor stops its children
/// all at once, so their stacks come back in no order, and only the whole
/// lot merges well. Stopping 10,000 children with one call per stack took
/// 23 µs of the 56 µs each child cost (`warden bench children`,
/// `stop_per_child`). The waiting stacks hold no more memory than their
/// Stores did a moment before.
pub(crate) const UNWANTED_QUIET: std::time::Duration = std::time::Duration::from_millis(20);

/// At most this many stacks wait to be unmapped; one more sends them all
/// at once (a steady trickle never goes quiet).
const UNWANTED_MAX: usize = 16_384;

/// Stacks mapped at once when none is left to carve (2 MiB each, as
/// wasmtime's default: 128 MiB of address space, no memory until used).
const CHUNK_STACKS: usize = 64;

/// Where the stacks of dropped Stores wait for the next ones, and the
/// chunk new ones are carved from.
pub(crate) struct StackShelf {
    inner: Mutex<Shelved>,
    /// [`KEEP`] and [`UNWANTED_MAX`], smaller in tests.
    keep: usize,
    unwanted_max: usize,
}

impl Default for StackShelf {
    fn default() -> Self {
        Self::bounded(KEEP, UNWANTED_MAX)
    }
}

#[derive(Default)]
struct Shelved {
    free: Vec<Mapping>,
    /// Stacks the shelf had no room for, to be unmapped (see
    /// [`UNWANTED_QUIET`]); lent again before a new one is carved.
    unwanted: Vec<Mapping>,
    /// When the last of them came.
    last_unwanted: Option<std::time::Instant>,
    /// What is left of the last chunk: inaccessible, owned by the shelf.
    uncarved: Option<Uncarved>,
}

/// The part of a chunk no stack was carved from yet.
struct Uncarved {
    next: usize,
    end: usize,
}

impl StackShelf {
    fn bounded(keep: usize, unwanted_max: usize) -> Self {
        Self {
            inner: Mutex::default(),
            keep,
            unwanted_max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shelved> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A stack of `len` bytes from the shelf, if one waits there.
    fn take(&self, len: usize) -> Option<Mapping> {
        // All the stacks of one shelf have the size its engine's config
        // gives; one of another size is not kept.
        let mut shelved = self.lock();
        match shelved.free.pop() {
            Some(mapping) => Some(mapping),
            None => shelved.unwanted.pop(),
        }
        .filter(|m| m.len == len)
    }

    /// Keeps `mapping` for the next Store; when the shelf is full, sets
    /// it aside to be unmapped with the others (see [`UNWANTED_QUIET`]).
    fn put(&self, mapping: Mapping) {
        let all = {
            let mut shelved = self.lock();
            if shelved.free.len() < self.keep {
                shelved.free.push(mapping);
                return;
            }
            shelved.unwanted.push(mapping);
            shelved.last_unwanted = Some(std::time::Instant::now());
            if shelved.unwanted.len() <= self.unwanted_max {
                return;
            }
            std::mem::take(&mut shelved.unwanted)
        };
        unmap_together(all);
    }

    /// Unmaps the stacks set aside, once none has come for `quiet`. Called
    /// at every epoch tick, off the threads that stop children.
    pub(crate) fn trim(&self, quiet: std::time::Duration) {
        let all = {
            let mut shelved = self.lock();
            if shelved.unwanted.is_empty()
                || shelved.last_unwanted.is_some_and(|at| at.elapsed() < quiet)
            {
                return;
            }
            std::mem::take(&mut shelved.unwanted)
        };
        unmap_together(all);
    }

    /// A new stack of `len` bytes: the next one of the current chunk, a
    /// new chunk mapped when it has no room left.
    fn carve(&self, len: usize) -> Result<Mapping, wasmtime::Error> {
        let guard = rustix::param::page_size();
        let size = guard + len;
        let base = {
            let mut shelved = self.lock();
            let room = shelved
                .uncarved
                .as_ref()
                .is_some_and(|u| u.end - u.next >= size);
            if !room {
                // The rest of the old chunk, too small, goes back.
                if let Some(rest) = shelved.uncarved.take() {
                    unmap(rest.next, rest.end - rest.next);
                }
                let total = size * CHUNK_STACKS;
                let start = map_inaccessible(total)?;
                no_huge_pages(start, total);
                shelved.uncarved = Some(Uncarved {
                    next: start,
                    end: start + total,
                });
            }
            let uncarved = shelved
                .uncarved
                .as_mut()
                .unwrap_or_else(|| unreachable!("a chunk with room was just ensured"));
            let base = uncarved.next;
            uncarved.next += size;
            base
        };
        // Owned from here: a failure below unmaps it (`Drop`).
        let mapping = Mapping { base, guard, len };
        mapping.make_writable()?;
        Ok(mapping)
    }

    /// How many stacks wait on the shelf.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().free.len()
    }

    /// How many stacks wait to be unmapped.
    #[cfg(test)]
    fn unwanted(&self) -> usize {
        self.lock().unwanted.len()
    }
}

impl Drop for StackShelf {
    fn drop(&mut self) {
        let shelved = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(rest) = shelved.uncarved.take() {
            unmap(rest.next, rest.end - rest.next);
        }
        unmap_together(std::mem::take(&mut shelved.unwanted));
    }
}

/// Unmaps stacks nothing uses: adjacent ones in one call.
fn unmap_together(stacks: Vec<Mapping>) {
    let ranges = stacks.into_iter().map(Mapping::into_range).collect();
    for (start, len) in coalesce(ranges) {
        unmap(start, len);
    }
}

/// `ranges` sorted, with each run of adjacent ones merged into one.
fn coalesce(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, len) in ranges {
        match merged.last_mut() {
            Some((last, last_len)) if *last + *last_len == start => *last_len += len,
            _ => merged.push((start, len)),
        }
    }
    merged
}

/// A new private anonymous mapping of `len` bytes, inaccessible; its
/// address.
#[allow(unsafe_code)]
fn map_inaccessible(len: usize) -> Result<usize, wasmtime::Error> {
    // SAFETY: a new mapping wherever the kernel puts it; nothing refers
    // to it yet.
    let base = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            len,
            ProtFlags::empty(),
            MapFlags::PRIVATE,
        )
    }?;
    Ok(base as usize)
}

/// Keeps transparent huge pages out of a chunk: where the kernel uses them
/// for every mapping, a stack whose body happened to be aligned would take
/// 2 MiB at its first call instead of the page or two it uses. Advice
/// only: a kernel without it changes nothing.
#[allow(unsafe_code)]
fn no_huge_pages(base: usize, len: usize) {
    // SAFETY: advice on the shelf's own new chunk, which nothing uses yet.
    let _ = unsafe { rustix::mm::madvise(base as *mut _, len, Advice::LinuxNoHugepage) };
}

/// Unmaps `len` bytes at `base`, which the caller owns and nothing uses.
#[allow(unsafe_code)]
fn unmap(base: usize, len: usize) {
    // SAFETY: the caller's own range (see above). A failure leaves the
    // memory mapped, which is only a leak.
    let _ = unsafe { rustix::mm::munmap(base as *mut _, len) };
}

/// The stack creator an engine's config gets ([`wasmtime::Config::with_host_stack`]).
pub(crate) struct Stacks(pub(crate) Arc<StackShelf>);

// SAFETY: every stack handed out is a mapping of its own (fresh, or given
// back by the `LentStack` that held it, which is dropped only once wasmtime
// is done with it), page-aligned, read-write over `range` and with an
// inaccessible guard page below it, as `StackCreator` requires.
#[allow(unsafe_code)]
unsafe impl StackCreator for Stacks {
    fn new_stack(
        &self,
        size: usize,
        zeroed: bool,
    ) -> Result<Box<dyn StackMemory>, wasmtime::Error> {
        let len = size.next_multiple_of(rustix::param::page_size());
        let mapping = match self.0.take(len) {
            Some(mapping) => {
                if zeroed {
                    mapping.zero()?;
                }
                mapping
            }
            None => self.0.carve(len)?,
        };
        Ok(Box::new(LentStack {
            mapping: Some(mapping),
            shelf: self.0.clone(),
        }))
    }
}

/// One stack's memory: a guard page, then `len` bytes read-write, the
/// stack growing down from the top towards the guard.
struct Mapping {
    /// Start of the guard page (and of the mapping), as an address.
    base: usize,
    guard: usize,
    len: usize,
}

impl Mapping {
    /// Makes the stack (all but the guard page) readable and writable.
    // `unsafe` is allowed in this module only: mapping memory for stacks
    // is what it is for.
    #[allow(unsafe_code)]
    fn make_writable(&self) -> Result<(), wasmtime::Error> {
        // SAFETY: the range lies inside this mapping, above its guard
        // page; nothing uses it yet.
        unsafe {
            rustix::mm::mprotect(
                self.stack_start() as *mut _,
                self.len,
                MprotectFlags::READ | MprotectFlags::WRITE,
            )
        }?;
        Ok(())
    }

    fn stack_start(&self) -> usize {
        self.base + self.guard
    }

    /// Gives the stack's pages back to the kernel: they read as zeroes.
    #[allow(unsafe_code)]
    fn zero(&self) -> Result<(), wasmtime::Error> {
        // SAFETY: the stack's own range, and no fiber runs on it: it is on
        // the shelf or being handed out.
        unsafe {
            rustix::mm::madvise(
                self.stack_start() as *mut _,
                self.len,
                Advice::LinuxDontNeed,
            )
        }?;
        Ok(())
    }
}

impl Mapping {
    /// The whole mapping, guard page included, as `(start, length)`; its
    /// owner is now the caller, who must unmap it.
    fn into_range(self) -> (usize, usize) {
        let range = (self.base, self.guard + self.len);
        std::mem::forget(self);
        range
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Owned by this value alone, and no fiber runs on it: it was on
        // the shelf or never lent.
        unmap(self.base, self.guard + self.len);
    }
}

/// A stack lent to one Store; back to the shelf when the Store drops it.
struct LentStack {
    /// `None` only while it is dropped.
    mapping: Option<Mapping>,
    shelf: Arc<StackShelf>,
}

impl LentStack {
    fn mapping(&self) -> &Mapping {
        // Set from creation until `drop` takes it.
        self.mapping
            .as_ref()
            .unwrap_or_else(|| unreachable!("a lent stack always holds its mapping"))
    }
}

// SAFETY: the addresses below stay those of one mapping, held until this
// value is dropped; see `Stacks`.
#[allow(unsafe_code)]
unsafe impl StackMemory for LentStack {
    fn top(&self) -> *mut u8 {
        let m = self.mapping();
        (m.stack_start() + m.len) as *mut u8
    }

    fn range(&self) -> Range<usize> {
        let m = self.mapping();
        m.stack_start()..m.stack_start() + m.len
    }

    fn guard_range(&self) -> Range<*mut u8> {
        let m = self.mapping();
        m.base as *mut u8..m.stack_start() as *mut u8
    }
}

impl Drop for LentStack {
    fn drop(&mut self) {
        if let Some(mapping) = self.mapping.take() {
            self.shelf.put(mapping);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_beyond_the_shelf_wait_until_none_come_then_go_together() {
        const KEEP: usize = 4;
        let shelf = Arc::new(StackShelf::bounded(KEEP, 100));
        let stacks = Stacks(shelf.clone());
        let lent: Vec<_> = (0..KEEP + 3)
            .map(|_| stacks.new_stack(16 << 10, false).unwrap())
            .collect();
        let last_top = lent[KEEP + 2].top() as usize;
        drop(lent);
        assert_eq!((shelf.len(), shelf.unwanted()), (KEEP, 3));
        // Not quiet yet: they wait, still mapped.
        shelf.trim(std::time::Duration::from_secs(3600));
        assert_eq!(shelf.unwanted(), 3);
        assert_eq!(permissions_at(last_top - 1).as_deref(), Some("rw-p"));
        // With the shelf empty, one is lent again before any is carved.
        let emptied: Vec<Mapping> = (0..KEEP).map(|_| shelf.take(16 << 10).unwrap()).collect();
        let revived = stacks.new_stack(16 << 10, false).unwrap();
        assert_eq!(shelf.unwanted(), 2);
        drop(revived);
        // Quiet: the other two go.
        shelf.trim(std::time::Duration::ZERO);
        assert_eq!((shelf.len(), shelf.unwanted()), (1, 0));
        drop(emptied);
    }

    #[test]
    fn too_many_unwanted_stacks_go_at_once() {
        let shelf = Arc::new(StackShelf::bounded(4, 8));
        let stacks = Stacks(shelf.clone());
        let lent: Vec<_> = (0..4 + 8 + 1)
            .map(|_| stacks.new_stack(16 << 10, false).unwrap())
            .collect();
        drop(lent);
        assert_eq!((shelf.len(), shelf.unwanted()), (4, 0));
    }

    #[test]
    fn adjacent_ranges_are_unmapped_in_one_call() {
        assert_eq!(
            coalesce(vec![
                (300, 100),
                (100, 100),
                (700, 50),
                (200, 100),
                (600, 50)
            ]),
            [(100, 300), (600, 50), (700, 50)]
        );
        assert_eq!(coalesce(Vec::new()), []);
    }

    #[test]
    fn a_stack_given_back_is_lent_again_and_the_shelf_is_bounded() {
        let shelf = Arc::new(StackShelf::default());
        let stacks = Stacks(shelf.clone());
        let first = stacks.new_stack(64 << 10, false).unwrap();
        let top = first.top();
        assert_eq!(first.range().len(), 64 << 10);
        assert_eq!(first.range().end, top as usize);
        let guard = first.guard_range();
        assert_eq!(guard.end as usize, first.range().start);
        assert_eq!(
            guard.end as usize - guard.start as usize,
            rustix::param::page_size()
        );
        assert_eq!(
            permissions_at(guard.start as usize).as_deref(),
            Some("---p"),
            "the guard page is inaccessible"
        );
        assert_eq!(permissions_at(top as usize - 1).as_deref(), Some("rw-p"));
        drop(first);
        assert_eq!(shelf.len(), 1);
        let again = stacks.new_stack(64 << 10, false).unwrap();
        assert_eq!(again.top(), top, "the stack given back is lent again");
        assert_eq!(shelf.len(), 0);
        // Two at once are two stacks.
        let other = stacks.new_stack(64 << 10, false).unwrap();
        assert_ne!(other.top(), again.top());
        let (a, b) = (again.range(), other.range());
        assert!(
            a.end <= b.start || b.end <= a.start,
            "{a:x?} and {b:x?} overlap"
        );
        for stack in [&again, &other] {
            let guard = stack.guard_range();
            assert!(!a.contains(&(guard.start as usize)) && !b.contains(&(guard.start as usize)));
        }
        drop((again, other));
        let many: Vec<_> = (0..KEEP + 10)
            .map(|_| stacks.new_stack(64 << 10, false).unwrap())
            .collect();
        drop(many);
        assert_eq!(shelf.len(), KEEP);
    }

    #[test]
    fn a_zeroed_stack_reads_as_zeroes_and_its_memory_is_writable() {
        let shelf = Arc::new(StackShelf::default());
        let stacks = Stacks(shelf.clone());
        let stack = stacks.new_stack(16 << 10, false).unwrap();
        let top = stack.top() as usize;
        // Written through the memory the creator promises is read-write.
        write_byte(top - 1, 0xAB);
        assert_eq!(read_byte(top - 1), 0xAB);
        drop(stack);
        let stack = stacks.new_stack(16 << 10, true).unwrap();
        assert_eq!(stack.top() as usize, top);
        assert_eq!(read_byte(top - 1), 0, "a zeroed stack was asked for");
    }

    /// The permissions of the mapping holding `address`, as the kernel
    /// lists them in `/proc/self/maps`.
    fn permissions_at(address: usize) -> Option<String> {
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        maps.lines().find_map(|line| {
            let mut fields = line.split_whitespace();
            let (start, end) = fields.next()?.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (start..end)
                .contains(&address)
                .then(|| fields.next().map(str::to_string))?
        })
    }

    #[allow(unsafe_code)]
    fn write_byte(address: usize, value: u8) {
        // SAFETY: inside a lent stack's read-write range, which no fiber uses.
        unsafe { std::ptr::write_volatile(address as *mut u8, value) }
    }

    #[allow(unsafe_code)]
    fn read_byte(address: usize) -> u8 {
        // SAFETY: as `write_byte`.
        unsafe { std::ptr::read_volatile(address as *const u8) }
    }
}
