#[derive(budobserve::BudAttributes)]
struct Request {
    #[bud(skip, redact)]
    token: String,
}

fn main() {}
