fn main() {
    budobserve::bud_info!("started", _span_name = "start");
}
