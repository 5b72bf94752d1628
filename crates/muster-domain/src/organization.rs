//! Organizations, the two sides, user roles and the data classes roles may see.

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text.trim() { $($text => Some($name::$variant),)+ _ => None }
            }

            /// [`Self::parse`] in any ASCII case, without a lowercased copy (imports call it
            /// for every row).
            pub fn parse_any_case(text: &str) -> Option<Self> {
                let text = text.trim();
                Self::ALL.iter().copied().find(|value| value.as_str().eq_ignore_ascii_case(text))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use string_enum;

string_enum! {
    /// What an organization is; DOMAIN.md's actors.
    OrganizationKind {
        MobilizationOffice => "mobilization_office",
        MilitaryLiaison => "military_liaison",
        MemberUnit => "member_unit",
        TownshipWorkstation => "township_workstation",
        VillageContactPoint => "village_contact_point",
        Enterprise => "enterprise",
        PropertyManager => "property_manager",
    }
}

string_enum! {
    /// The civilian or the military side of the joint work.
    Side {
        Civil => "civil",
        Military => "military",
    }
}

string_enum! {
    /// What a user may do. A user has one or more roles.
    Role {
        Administrator => "administrator",
        OfficeStaff => "office_staff",
        MilitaryLiaison => "military_liaison",
        MemberUnitOfficer => "member_unit_officer",
        WorkstationStaff => "workstation_staff",
        GridMember => "grid_member",
        PropertyManager => "property_manager",
        Viewer => "viewer",
    }
}

string_enum! {
    /// Classes of data that only some roles may see, whatever their region.
    DataClass {
        PersonalData => "personal_data",
        ClassifiedMilitary => "classified_military",
    }
}

impl OrganizationKind {
    /// The side an organization of this kind is on unless stated otherwise.
    pub const fn default_side(self) -> Side {
        match self {
            OrganizationKind::MilitaryLiaison => Side::Military,
            _ => Side::Civil,
        }
    }
}

impl Role {
    /// The data classes this role may read. Reservists' personal data is for the offices
    /// and the liaisons who call them up; classified demands are for the military side and
    /// the administrators who run the system for it.
    pub const fn data_classes(self) -> &'static [DataClass] {
        match self {
            Role::Administrator => &[DataClass::PersonalData, DataClass::ClassifiedMilitary],
            Role::MilitaryLiaison => &[DataClass::PersonalData, DataClass::ClassifiedMilitary],
            Role::OfficeStaff => &[DataClass::PersonalData],
            Role::MemberUnitOfficer
            | Role::WorkstationStaff
            | Role::GridMember
            | Role::PropertyManager
            | Role::Viewer => &[],
        }
    }

    /// Whether the role does the offices' own work (reporting, verifying, inspecting), as
    /// opposed to reading (viewers) or answering for an outside party (property managers).
    pub const fn is_staff(self) -> bool {
        !matches!(self, Role::Viewer | Role::PropertyManager)
    }

    /// Whether the role may change reference data: regions, organizations, users.
    pub const fn administers(self) -> bool {
        matches!(self, Role::Administrator)
    }
}

/// A non-empty set of roles, parsed from a comma-separated list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles(Vec<Role>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolesError {
    #[error("at least one role is required")]
    Empty,
    #[error(
        "unknown role {0:?}; expected one of administrator, office_staff, military_liaison, member_unit_officer, workstation_staff, grid_member, property_manager, viewer"
    )]
    Unknown(String),
}

impl RolesError {
    /// The error in Chinese, for the Chinese pages; the role codes stay as they are typed.
    pub fn zh(&self) -> String {
        match self {
            RolesError::Empty => "至少要选择一个角色".into(),
            RolesError::Unknown(found) => format!(
                "未知角色 {found:?}；应为 administrator、office_staff、military_liaison、member_unit_officer、workstation_staff、grid_member、property_manager 或 viewer 之一"
            ),
        }
    }
}

impl Roles {
    pub fn new(mut roles: Vec<Role>) -> Result<Self, RolesError> {
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            Err(RolesError::Empty)
        } else {
            Ok(Self(roles))
        }
    }

    pub fn parse_list(text: &str) -> Result<Self, RolesError> {
        let roles = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Role::parse(s).ok_or_else(|| RolesError::Unknown(s.to_owned())))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(roles)
    }

    pub fn as_slice(&self) -> &[Role] {
        &self.0
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn to_list(&self) -> String {
        self.0
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn data_classes(&self) -> Vec<DataClass> {
        let mut classes: Vec<DataClass> = self
            .0
            .iter()
            .flat_map(|r| r.data_classes().iter().copied())
            .collect();
        classes.sort();
        classes.dedup();
        classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_its_text() {
        for kind in OrganizationKind::ALL {
            assert_eq!(OrganizationKind::parse(kind.as_str()), Some(*kind));
        }
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(*role));
        }
        for side in Side::ALL {
            assert_eq!(Side::parse(side.as_str()), Some(*side));
        }
    }

    #[test]
    fn roles_parse_dedup_and_refuse_unknowns() {
        let roles = Roles::parse_list("viewer, office_staff,viewer").expect("valid");
        assert_eq!(roles.as_slice(), &[Role::OfficeStaff, Role::Viewer]);
        assert_eq!(roles.data_classes(), vec![DataClass::PersonalData]);
        assert_eq!(Roles::parse_list(" , "), Err(RolesError::Empty));
        assert_eq!(
            Roles::parse_list("admin"),
            Err(RolesError::Unknown("admin".into()))
        );
    }
}
