use clap::Args;
#[derive(Debug, Args)]
pub struct DemoArgs {}
pub fn run(
    _ctx: &crate::ctx::Ctx,
    _a: &DemoArgs,
) -> crate::error::Result<crate::commands::status::StatusOutput> {
    Err(crate::error::AppError::internal("x"))
}
