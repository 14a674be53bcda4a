#[derive(budobserve::BudAttributes)]
struct Request {
    #[bud(rename = "m", key = "gen_ai.request.model")]
    model: String,
}

fn main() {}
