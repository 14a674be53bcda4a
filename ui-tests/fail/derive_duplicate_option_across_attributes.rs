#[derive(budobserve::BudAttributes)]
struct Request {
    #[bud(redact)]
    #[bud(redact)]
    token: String,
}

fn main() {}
