/** The field diff and redaction live in api/ so the CLI's plan shows changes exactly as the audit log records them. */
export { REDACTED, diff, redact, type FieldChange } from '../../api/changes.ts';
