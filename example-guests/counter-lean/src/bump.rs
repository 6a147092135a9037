//! The guest's memory allocator: a bump allocator over the free linear memory
//! above the static data, that starts over whenever nothing is allocated.
//!
//! Why it is enough: this guest keeps no heap data between messages (its
//! state is one static `i64`). Everything it allocates during an export (the
//! message the host copied in through `cabi_realloc`, the reply, an error
//! string, a string the host returns from an import) is freed before the
//! export ends, by the export itself or by the post-return function the host
//! calls right after reading the result. So the count of live blocks drops
//! to zero after every message, and the next message starts again at the
//! bottom of the heap: a session that handles millions of messages touches
//! no more memory than its largest single message did.
//!
//! Between resets it also gives memory back when the newest block is freed
//! (LIFO), and grows or shrinks the newest block in place. What it does not
//! do is reuse a freed block below the newest one before the next reset: a
//! guest that kept some allocation alive across messages would leak, message
//! after message, every block allocated after it and freed out of order.
//!
//! The bookkeeping is [`Arena`], plain arithmetic on addresses, unit-tested
//! natively; the wasm32-only `global` module turns it into the
//! `#[global_allocator]` and the canonical ABI's `cabi_realloc` export.

/// The state of the bump allocator: three addresses' worth of integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Arena {
    /// Where the heap starts: the first free address after the static data.
    pub(crate) base: usize,
    /// The first address above the newest block.
    pub(crate) top: usize,
    /// How many blocks are allocated and not yet freed.
    pub(crate) live: usize,
}

impl Arena {
    /// An empty heap starting at `base`.
    pub(crate) const fn new(base: usize) -> Self {
        Arena {
            base,
            top: base,
            live: 0,
        }
    }

    /// Where a block of `size` bytes aligned to `align` (a power of two)
    /// would go: its start and its end. `None` on address overflow.
    pub(crate) fn place(&self, size: usize, align: usize) -> Option<(usize, usize)> {
        let mask = align.checked_sub(1)?;
        let start = self.top.checked_add(mask)? & !mask;
        Some((start, start.checked_add(size)?))
    }

    /// Allocates `size` bytes aligned to `align` below the address `limit`
    /// (the end of memory); returns the block's address.
    pub(crate) fn alloc(&mut self, size: usize, align: usize, limit: usize) -> Option<usize> {
        let (start, end) = self.place(size, align)?;
        if end > limit {
            return None;
        }
        self.top = end;
        self.live += 1;
        Some(start)
    }

    /// Frees the block of `size` bytes at `ptr`.
    pub(crate) fn dealloc(&mut self, ptr: usize, size: usize) {
        self.live = self.live.saturating_sub(1);
        if self.live == 0 {
            self.top = self.base;
        } else if ptr.checked_add(size) == Some(self.top) {
            self.top = ptr;
        }
    }

    /// Resizes the block of `old_size` bytes at `ptr` to `new_size` bytes
    /// without moving it, if it can: it is the newest block (and the new end
    /// is below `limit`), or it shrinks. Otherwise the caller must move it.
    pub(crate) fn resize_in_place(
        &mut self,
        ptr: usize,
        old_size: usize,
        new_size: usize,
        limit: usize,
    ) -> bool {
        if ptr.checked_add(old_size) == Some(self.top) {
            match ptr.checked_add(new_size) {
                Some(end) if end <= limit => {
                    self.top = end;
                    true
                }
                _ => false,
            }
        } else {
            new_size <= old_size
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod global {
    //! The allocator on wasm32, and the unsafe part: [`Arena`] over
    //! `__heap_base..end of memory` as the `#[global_allocator]` and as the
    //! `cabi_realloc` export.
    //!
    //! The arena lives in three atomics, each read and written with relaxed
    //! ordering: a wasm32 guest without the threads proposal has one thread,
    //! so they compile to plain loads and stores, and need no `unsafe impl
    //! Sync`. They start at zero, in `.bss` (no data segment bytes).
    #![expect(
        unsafe_code,
        reason = "a global allocator is an `unsafe impl GlobalAlloc`, and the canonical ABI \
                  needs an exported `cabi_realloc`"
    )]

    use core::alloc::{GlobalAlloc, Layout};
    use core::arch::wasm32;
    use core::ptr;
    use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    use super::Arena;

    /// Size of a wasm page.
    const PAGE: usize = 65_536;

    unsafe extern "C" {
        /// Defined by the linker: the first address after the stack and the
        /// static data, aligned to 16.
        safe static __heap_base: u8;
    }

    /// [`Arena::base`]; 0 until the first allocation.
    static BASE: AtomicUsize = AtomicUsize::new(0);
    /// [`Arena::top`].
    static TOP: AtomicUsize = AtomicUsize::new(0);
    /// [`Arena::live`].
    static LIVE: AtomicUsize = AtomicUsize::new(0);

    /// Reads the arena, starting it at `__heap_base` on first use.
    fn load() -> Arena {
        let base = BASE.load(Relaxed);
        if base == 0 {
            return Arena::new((&raw const __heap_base).addr());
        }
        Arena {
            base,
            top: TOP.load(Relaxed),
            live: LIVE.load(Relaxed),
        }
    }

    /// Writes the arena back.
    fn store(arena: Arena) {
        BASE.store(arena.base, Relaxed);
        TOP.store(arena.top, Relaxed);
        LIVE.store(arena.live, Relaxed);
    }

    /// The end of linear memory.
    fn memory_end() -> usize {
        wasm32::memory_size::<0>() * PAGE
    }

    /// Allocates from `arena`, growing memory if the block does not fit
    /// (which fails at once when the guest is linked with a fixed memory).
    fn alloc_in(arena: &mut Arena, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        let mut limit = memory_end();
        if let Some((_, end)) = arena.place(size, align)
            && end > limit
            && wasm32::memory_grow::<0>((end - limit).div_ceil(PAGE)) != usize::MAX
        {
            limit = memory_end();
        }
        match arena.alloc(size, align, limit) {
            Some(addr) => ptr::with_exposed_provenance_mut(addr),
            None => ptr::null_mut(),
        }
    }

    /// The global allocator; see [`super`].
    struct Bump;

    #[global_allocator]
    static BUMP: Bump = Bump;

    // SAFETY: `alloc` returns blocks inside linear memory above the static
    // data and the stack, aligned as asked, that do not overlap any live
    // block: the arena only hands out memory above `top`, and only moves
    // `top` down over blocks that were freed (all of them, or the newest).
    // The guest is single-threaded, so no two calls interleave.
    unsafe impl GlobalAlloc for Bump {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let mut arena = load();
            let block = alloc_in(&mut arena, layout);
            store(arena);
            block
        }

        unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
            let mut arena = load();
            arena.dealloc(block.expose_provenance(), layout.size());
            store(arena);
        }

        unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let mut arena = load();
            if arena.resize_in_place(
                block.expose_provenance(),
                layout.size(),
                new_size,
                memory_end(),
            ) {
                store(arena);
                return block;
            }
            // SAFETY: `GlobalAlloc::realloc`'s contract makes `new_size`,
            // rounded up to `layout.align()`, fit an `isize`.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            let new_block = alloc_in(&mut arena, new_layout);
            if !new_block.is_null() {
                // SAFETY: the old block is live and holds `layout.size()`
                // bytes, the new one was just allocated above it (so they do
                // not overlap) and holds `new_size`.
                unsafe {
                    ptr::copy_nonoverlapping(block, new_block, layout.size().min(new_size));
                }
                arena.dealloc(block.expose_provenance(), layout.size());
            }
            store(arena);
            new_block
        }
    }

    /// The canonical ABI's allocator: the host calls it to copy lists and
    /// strings into the guest (`old_len` 0), and could call it to grow them.
    /// Blocks come from the global allocator, so the `Vec` and `String`
    /// made of them free them there. wasm32-wasip2's libc has a weak
    /// `cabi_realloc` over its own `malloc`; this strong one replaces it so
    /// that libc's allocator is never linked.
    ///
    /// # Safety
    /// `old_ptr` must be a block of `old_len` bytes from this function (or
    /// anything when `old_len` is 0). Only the host calls it.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn cabi_realloc(
        old_ptr: *mut u8,
        old_len: usize,
        align: usize,
        new_len: usize,
    ) -> *mut u8 {
        let Ok(layout) = Layout::from_size_align(new_len, align) else {
            wasm32::unreachable()
        };
        if new_len == 0 {
            // A dangling, aligned pointer for an empty list, as wit-bindgen's
            // own `cabi_realloc` returns.
            return ptr::without_provenance_mut(align);
        }
        let block = if old_len == 0 {
            // SAFETY: `layout` has a non-zero size.
            unsafe { BUMP.alloc(layout) }
        } else {
            // SAFETY: the caller passes a block it got from here, with the
            // size and alignment it asked for then; `new_len` fits
            // `Layout` with that alignment (checked above) and is not zero.
            unsafe {
                BUMP.realloc(
                    old_ptr,
                    Layout::from_size_align_unchecked(old_len, align),
                    new_len,
                )
            }
        };
        if block.is_null() {
            wasm32::unreachable()
        }
        block
    }
}

#[cfg(test)]
mod tests {
    //! The arena's bookkeeping, driven through the patterns the canonical ABI
    //! and wit-bindgen produce.

    use super::Arena;

    const BASE: usize = 0x4000;
    const LIMIT: usize = 0x4100;

    #[test]
    fn a_call_resets_the_heap() {
        let mut arena = Arena::new(BASE);
        // The host copies the request in (cabi_realloc, align 1).
        let request = arena.alloc(21, 1, LIMIT).expect("request");
        assert_eq!(request, BASE);
        // The guest builds its reply while the request is alive.
        let reply = arena.alloc(11, 1, LIMIT).expect("reply");
        assert_eq!(reply, BASE + 21);
        // The request is dropped first: not the newest block, nothing moves.
        arena.dealloc(request, 21);
        assert_eq!((arena.top, arena.live), (BASE + 32, 1));
        // Post-return frees the reply: the heap is empty again.
        arena.dealloc(reply, 11);
        assert_eq!(arena, Arena::new(BASE));
    }

    #[test]
    fn millions_of_messages_stay_at_the_bottom() {
        let mut arena = Arena::new(BASE);
        for i in 0..2_000_000_usize {
            let request = arena.alloc(20 + i % 7, 1, LIMIT).expect("request");
            let error = arena.alloc(40, 1, LIMIT).expect("import error string");
            arena.dealloc(error, 40);
            let reply = arena.alloc(11 + i % 3, 1, LIMIT).expect("reply");
            arena.dealloc(request, 20 + i % 7);
            arena.dealloc(reply, 11 + i % 3);
            assert_eq!(arena.top, BASE);
        }
    }

    #[test]
    fn alignment_and_limits() {
        let mut arena = Arena::new(BASE);
        assert_eq!(arena.alloc(3, 1, LIMIT), Some(BASE));
        assert_eq!(arena.alloc(8, 8, LIMIT), Some(BASE + 8));
        assert_eq!(arena.top, BASE + 16);
        assert_eq!(arena.alloc(LIMIT - BASE, 1, LIMIT), None);
        assert_eq!((arena.top, arena.live), (BASE + 16, 2));
        assert_eq!(arena.alloc(1, 0, LIMIT), None, "align 0 is refused");
        assert_eq!(arena.place(usize::MAX, 1), None, "overflow");
        assert_eq!(arena.alloc(LIMIT - BASE - 16, 1, LIMIT), Some(BASE + 16));
    }

    #[test]
    fn lifo_frees_give_memory_back() {
        let mut arena = Arena::new(BASE);
        let a = arena.alloc(10, 1, LIMIT).expect("a");
        let b = arena.alloc(10, 1, LIMIT).expect("b");
        let c = arena.alloc(10, 1, LIMIT).expect("c");
        arena.dealloc(c, 10);
        assert_eq!(arena.top, c);
        arena.dealloc(a, 10);
        assert_eq!(arena.top, c, "a is below b: kept until the reset");
        arena.dealloc(b, 10);
        assert_eq!(arena, Arena::new(BASE));
    }

    #[test]
    fn resize_in_place() {
        let mut arena = Arena::new(BASE);
        let a = arena.alloc(10, 1, LIMIT).expect("a");
        assert!(
            arena.resize_in_place(a, 10, 30, LIMIT),
            "newest block grows"
        );
        assert_eq!(arena.top, BASE + 30);
        assert!(arena.resize_in_place(a, 30, 5, LIMIT), "and shrinks");
        assert_eq!(arena.top, BASE + 5);
        assert!(
            !arena.resize_in_place(a, 5, LIMIT, LIMIT),
            "not past the limit"
        );
        let b = arena.alloc(4, 1, LIMIT).expect("b");
        assert!(
            !arena.resize_in_place(a, 5, 6, LIMIT),
            "an older block cannot grow"
        );
        assert!(arena.resize_in_place(a, 5, 2, LIMIT), "but can shrink");
        arena.dealloc(a, 2);
        arena.dealloc(b, 4);
        assert_eq!(arena, Arena::new(BASE));
    }
}
