"""The models, one module per aggregate. Importing this package registers them all."""
from .auth import LoginThrottle
from .base import UTCDateTime, utcnow
from .checklist import RequestStep
from .documents import Document
from .enums import *  # noqa: F401,F403 - the domain vocabulary travels with the models
from .events import AppendOnlyViolation, Event
from .execution import DryRun, DryRunLine, Rectification, SuppressionEntry
from .medical_record import MedicalRecordItem
from .fulfilment import (
    AccountDeactivation, Download, DownloadLink, ErasureDecision, PortableDataset, PostMortemDirective,
    PostMortemDirectiveChange, RecipientNotification,
)
from .outbox import OutboxMessage
from .people import LIVE_TASK_STATUSES, CareLink, Professional, ProfessionalTask, TaskOpening
from .request import DataRequest, RequestPause, RequestSubject, Requester
from .staff import ApiKey, Staff
from .systems import CapturedKeys, CollectionPack, PackStatus, RunPurpose, RunStatus, SealedItem, SystemRun
from .webhooks import ApiSubmission, WebhookEndpoint

__all__ = [
    "LoginThrottle", "UTCDateTime", "utcnow", "Document", "AppendOnlyViolation", "Event", "OutboxMessage",
    "LIVE_TASK_STATUSES", "CareLink", "Professional", "ProfessionalTask", "TaskOpening",
    "DataRequest", "MedicalRecordItem", "RequestPause", "RequestSubject", "Requester", "ApiKey", "Staff",
    "AccountDeactivation", "Download", "DownloadLink", "ErasureDecision", "PortableDataset", "PostMortemDirective",
    "PostMortemDirectiveChange", "RecipientNotification", "RequestStep",
    "ApiSubmission", "WebhookEndpoint",
    "CapturedKeys", "CollectionPack", "PackStatus", "RunPurpose", "RunStatus", "SealedItem", "SystemRun",
    "DryRun", "DryRunLine", "Rectification", "SuppressionEntry",
]
