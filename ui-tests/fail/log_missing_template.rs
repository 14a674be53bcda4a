fn main() {
    budobserve::bud_info!();
}
