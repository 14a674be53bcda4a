fn main() {
    budobserve::bud_info!("user {} logged in", 42);
}
