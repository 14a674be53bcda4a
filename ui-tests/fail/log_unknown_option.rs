fn main() {
    budobserve::bud_info!("started", _color = "red");
}
