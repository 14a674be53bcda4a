fn main() {
    let ratio = 0.5;
    budobserve::bud_info!("ratio {ratio:q}");
}
