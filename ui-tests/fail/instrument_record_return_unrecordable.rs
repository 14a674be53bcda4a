struct Rows;

#[budobserve::instrument(record_return)]
fn query() -> Rows {
    Rows
}

fn main() {
    let _ = query();
}
