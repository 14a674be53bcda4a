#[derive(budobserve::BudAttributes)]
#[bud(namespace = "http")]
struct Request {
    method: String,
}

fn main() {}
