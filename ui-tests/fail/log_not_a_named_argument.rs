fn main() {
    budobserve::bud_info!("started", 1 + 2);
}
