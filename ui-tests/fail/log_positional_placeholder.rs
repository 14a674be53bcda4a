fn main() {
    budobserve::bud_info!("user {0} logged in", 42);
}
