use clap::Args;
#[derive(Debug, Args)]
pub struct DoctorArgs {}
pub fn run(
    _ctx: &crate::ctx::Ctx,
    _a: &DoctorArgs,
) -> crate::error::Result<crate::commands::status::StatusOutput> {
    Err(crate::error::AppError::internal("x"))
}
