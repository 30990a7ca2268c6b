//! Where a template's or an artifact's destination goes: a place below the
//! task directory or the shared `alloc/`, never outside them.

/// The two places of an allocation a task may write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Under {
    /// The task's own directory.
    Task,
    /// The `alloc/` directory the group's tasks share.
    Alloc,
}

/// A destination as a path below the task directory or the shared `alloc/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub under: Under,
    /// Normal components only: no `.`, `..` or empty ones.
    pub parts: Vec<String>,
}

/// A destination that leaves both the task directory and the shared `alloc/`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "destination {dest:?} is outside the task directory — write a path under local/, secrets/ or tmp/ (or ${{NOMAD_ALLOC_DIR}}/ for the group's shared alloc/)"
)]
pub struct DestinationError {
    pub dest: String,
}

/// Where a destination lands. Relative paths (and absolute ones, as Nomad
/// joins them to the task directory) start at the task directory;
/// `${NOMAD_TASK_DIR}`, `${NOMAD_SECRETS_DIR}` and `${NOMAD_ALLOC_DIR}` at
/// the start stand for `local/`, `secrets/` and the shared `alloc/`. A path
/// that leaves both the task directory and the shared `alloc/` is refused.
pub fn destination_place(dest: &str) -> Result<Place, DestinationError> {
    let (mut under, rest) = if let Some(r) = dest.strip_prefix("${NOMAD_TASK_DIR}") {
        (Under::Task, format!("local/{r}"))
    } else if let Some(r) = dest.strip_prefix("${NOMAD_SECRETS_DIR}") {
        (Under::Task, format!("secrets/{r}"))
    } else if let Some(r) = dest.strip_prefix("${NOMAD_ALLOC_DIR}") {
        (Under::Alloc, r.to_string())
    } else {
        (Under::Task, dest.to_string())
    };
    let mut parts: Vec<String> = Vec::new();
    // Above the task directory is the allocation directory, where only
    // `alloc/` belongs to the task.
    let mut above = false;
    for c in rest.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    if above || under == Under::Alloc {
                        return Err(outside(dest));
                    }
                    above = true;
                }
            }
            c if above => {
                if c != "alloc" {
                    return Err(outside(dest));
                }
                above = false;
                under = Under::Alloc;
            }
            c => parts.push(c.to_string()),
        }
    }
    if above {
        return Err(outside(dest));
    }
    Ok(Place { under, parts })
}

fn outside(dest: &str) -> DestinationError {
    DestinationError { dest: dest.to_string() }
}
