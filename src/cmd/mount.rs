//! `dsbfs mount [CATALOG] MOUNTPOINT [-o OPTIONS] [-f]`

use super::Ctx;
use crate::cli::MountArgs;
use crate::fs::{MountRequest, mount, parse_options};
use anyhow::Result;

pub fn run(ctx: &Ctx, args: MountArgs) -> Result<u8> {
    let options = parse_options(&args.options).map_err(crate::usage)?;
    let (catalog, mountpoint) = match args.paths.as_slice() {
        [mp] => (
            options
                .catalog
                .clone()
                .unwrap_or_else(|| ctx.catalog_path.clone()),
            mp.clone(),
        ),
        [cat, mp] => (cat.clone(), mp.clone()),
        _ => return Err(crate::usage("give [CATALOG] MOUNTPOINT")),
    };
    mount(MountRequest {
        catalog,
        mountpoint,
        options,
        foreground: args.foreground,
        verbose: ctx.verbose > 0,
    })?;
    Ok(crate::exit::OK)
}
