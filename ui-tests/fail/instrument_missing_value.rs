#[budobserve::instrument(msg_template)]
fn answer() -> u32 {
    42
}

fn main() {
    let _ = answer();
}
