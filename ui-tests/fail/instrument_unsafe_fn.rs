#[budobserve::instrument]
unsafe fn raw(pointer: *const u8) -> u8 {
    unsafe { *pointer }
}

fn main() {}
