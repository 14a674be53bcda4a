fn main() {
    let tag = "billing";
    budobserve::bud_info!("charged", _tags = [tag]);
}
