fn main() {
    budobserve::bud_info!("started", _tags = ["a"], _tags = ["b"]);
}
