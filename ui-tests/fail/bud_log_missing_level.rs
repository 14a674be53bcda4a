fn main() {
    budobserve::bud_log!("no level given");
}
