//! Who is acting and what they may see.
//!
//! A [`Scope`] is built once from an authenticated user and handed to every storage read
//! and write; storage filters by it, so no handler can forget to. It is the region subtree
//! of the user's organization plus the data classes their roles allow.

use serde::Serialize;

use crate::organization::{DataClass, Role, Roles};
use crate::region::RegionPath;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    subtree: RegionPath,
    data_classes: Vec<DataClass>,
}

impl Scope {
    pub fn new(subtree: RegionPath, data_classes: Vec<DataClass>) -> Self {
        Self {
            subtree,
            data_classes,
        }
    }

    /// Everything, every class: for the command line run by whoever holds the server.
    pub fn everything() -> Self {
        Self {
            subtree: RegionPath::root(),
            data_classes: DataClass::ALL.to_vec(),
        }
    }

    pub fn subtree(&self) -> &RegionPath {
        &self.subtree
    }

    pub fn contains(&self, path: &RegionPath) -> bool {
        self.subtree.contains(path)
    }

    pub fn allows(&self, class: DataClass) -> bool {
        self.data_classes.contains(&class)
    }

    pub fn data_classes(&self) -> &[DataClass] {
        &self.data_classes
    }
}

/// The person (or the command line) behind a request: who they are for the audit log, what
/// they may see, and what they may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    user_id: Option<i64>,
    name: String,
    roles: Vec<Role>,
    scope: Scope,
}

impl Actor {
    pub fn user(user_id: i64, username: String, roles: &Roles, subtree: RegionPath) -> Self {
        Self {
            user_id: Some(user_id),
            name: username,
            roles: roles.as_slice().to_vec(),
            scope: Scope::new(subtree, roles.data_classes()),
        }
    }

    /// The operator at the command line: unrestricted, and named in the audit log.
    pub fn command_line(operator: &str) -> Self {
        Self {
            user_id: None,
            name: format!("cli:{operator}"),
            roles: vec![Role::Administrator],
            scope: Scope::everything(),
        }
    }

    /// Muster itself, doing scheduled work (reminders, escalation, patrol alerts): named in
    /// the audit log as `system:<task>`, unrestricted like the command line.
    pub fn system(task: &str) -> Self {
        Self {
            user_id: None,
            name: format!("system:{task}"),
            roles: vec![Role::Administrator],
            scope: Scope::everything(),
        }
    }

    /// Someone outside Muster acting through a link that grants one thing (a property
    /// manager answering one rectification order): no account, the property-manager role,
    /// and a scope of the one region the link is about.
    pub fn link_holder(name: &str, subtree: RegionPath) -> Self {
        Self {
            user_id: None,
            name: format!("link:{name}"),
            roles: vec![Role::PropertyManager],
            scope: Scope::new(subtree, Vec::new()),
        }
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user_id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn administers(&self) -> bool {
        self.roles.iter().any(|r| r.administers())
    }
}
