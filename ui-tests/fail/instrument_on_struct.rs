#[budobserve::instrument]
struct Client;

fn main() {}
