fn main() {
    let _span = budobserve::bud_span!("work", _level = "loud");
}
