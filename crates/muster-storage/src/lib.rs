//! Muster's storage: one API over SQLite (the embedded default) and PostgreSQL.
//!
//! Queries are written once, with `$N` placeholders that both drivers accept, and run on
//! whichever pool [`Database`] holds; the few places where the dialects differ (bulk load,
//! backup, connection set-up) sit in [`db`]. Every read takes the caller's
//! [`Scope`](muster_domain::Scope) and filters by it in SQL; every write takes an
//! [`Actor`](muster_domain::Actor), checks its scope, and appends to the audit chain in the
//! same transaction.

mod audit;
pub mod blobs;
mod copy;
mod db;
mod demands;
mod error;
mod facilities;
mod facility_bulk;
mod inspections;
mod orders;
mod organizations;
mod patrols;
mod potential;
mod regions;
mod requisitions;
mod sessions;
mod settings;
mod sites;
mod survey;
mod sustainment;
mod users;
mod verification;

#[cfg(feature = "testing")]
pub mod testing;

pub use audit::{AuditEntry, AuditEvent, AuditVerification};
pub use blobs::{
    BlobError, BlobFile, BlobKind, BlobLimits, BlobStore, ContentHash, StoredBlob, Thumbnail,
    UploadId, UploadStatus,
};
pub use db::{Backend, Database, DatabaseUrl};
pub use demands::{
    AcceptOutcome, AcceptedAssignment, AllocationProposal, DemandFilter, DemandInput,
    DemandSummary, DemandView, EscalationSourceView, HandoverInput, HandoverItemInput,
    HoldingSummary, InspectionCondition, InspectionInput, MAX_INSPECTION_PHOTOS, ProposalTimings,
    ProposedAlternative, ProposedAssignment, ProposedLine, StoredAllocation, StoredDemandLine,
    StoredHandover, StoredInspection, StoredMeeting,
};
pub use error::{ForbiddenReason, StorageError};
pub use facilities::{
    Facility, FacilityDashboard, FacilityReach, Grid, GridMember, KindFigures, MapPoint, MapStatus,
    NewFacility, ScheduleSetting, may_manage_facilities,
};
pub use facility_bulk::{
    BulkFacility, BulkGrid, BulkInspection, FacilityLoad, FacilityLoadSummary,
    InspectionHistorySummary,
};
pub use inspections::{
    Attachment, AttachmentInput, Inspection, InspectionOutcome, MAX_ATTACHMENTS,
};
pub use orders::{
    DEFAULT_LINK_DAYS, Notification, OrderEvent, OrderFilter, OrderHistory, RectificationOrder,
    escalation_target,
};
pub use organizations::{NewOrganization, Organization};
pub use patrols::{
    Campaign, CampaignChanges, CampaignProgress, CheckInOutcome, NewCampaign, PatrolRoute,
    PatrolRun, RegionProgress,
};
#[cfg(feature = "testing")]
pub use potential::every_file_read_turn;
pub use potential::{
    BaselineRow, FILE_READS_AT_ONCE, FILE_READS_WAITING, Gap, PotentialRecord, RecordFilter,
    RecordImportSummary, RecordProvenance, StoredBaseline, SubtreeTotals, TypeTotals,
    file_read_turn,
};
pub use regions::{ImportSummary, Region, RegionListFilter, RegionView};
pub use requisitions::{
    COMPENSATION_SETTING, DEFAULT_REQUISITION_LINK_DAYS, EXEMPTION_RULES_SETTING, NewRequisition,
    NewRequisitionLine, Requisition, RequisitionEventRow, RequisitionItemRow, RequisitionSummary,
};
pub use sessions::{ApiToken, SessionRecord};
pub use settings::TRANSPORT_SETTING;
pub use sites::{NewSite, Site, SiteChanges, SiteFilter};
pub use survey::{
    Assignment, AssignmentView, DuplicateHolding, FormRowEdit, LOWEST_ASSIGNED_LEVEL, OpenRound,
    OtherReport, RoundDashboard, Submission, SubmissionSource, SubmitOutcome, SurveyRound,
    VersionDiff,
};
pub use sustainment::{
    NewScenario, ProductionLine, ScenarioDocument, ScenarioTypeDocument, StoredScenario, SurgeStep,
    SustainmentRun,
};
pub use users::{NewUser, SignInCredentials, User};
pub use verification::{
    AccuracyView, DEFAULT_STALE_AFTER_DAYS, FindingInput, FindingOutcome, FreshnessView,
    MAX_PHOTOS as MAX_FINDING_PHOTOS, MAX_STALE_AFTER_DAYS, RegionFigure, STALE_AFTER_SETTING,
    STALE_RECORDS_MAX, SampleMethod, SampleParameters, SamplePreview, SampleRequest, StoredRisk,
    UnitCredibility, VerificationItem, VerificationSample,
};

/// The current time for writes. The only clock in storage; the domain gets time from here.
pub fn now() -> muster_domain::Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    muster_domain::Timestamp::from_millis(millis)
}
