//! The expansions name everything by absolute path and bind nothing a user's code can see: they compile without the
//! prelude, and user variables named like the macros' internals are the ones that get recorded.
#![no_implicit_prelude]
#![deny(warnings)]

#[::budobserve::instrument(msg_template = "{__bud_obs} {__bud_span} {__bud_dropped}")]
fn instrumented(__bud_obs: u32, __bud_span: u32, __bud_dropped: u32) -> u32 {
    __bud_obs + __bud_span + __bud_dropped
}

fn main() {
    let __bud_obs = 1_u32;
    let __bud_level = "level";
    let __bud_attrs = 2_i64;
    let __bud_a0 = 3_u8;
    let __bud_dropped = 4_u16;
    #[allow(non_snake_case)]
    let __BUD_CALLSITE = "callsite";
    ::budobserve::bud_info!("{__bud_obs} {__bud_level} {__bud_attrs} {__bud_a0} {__BUD_CALLSITE} {__bud_dropped}");
    ::budobserve::bud_warn!("named", h = __bud_obs);
    let _span = ::budobserve::bud_span!("span {__bud_obs}");
    let _ = instrumented(1, 2, 3);
}
