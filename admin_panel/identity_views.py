"""The Entra identity a mailbox is bound to (finding 6, `backend.identity`): shown on the mailbox page, set or
cleared by an admin. Refused sign-ins whose identity did not match show there as ``identity_mismatch`` health
entries; setting the identity resolves them."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from admin_panel import audit
from admin_panel.blueprint import bp
from admin_panel.views import _mailbox_or_404, actor
from backend.globals import db_session
from backend.identity import IDENTITY_REF, MISMATCH_CODE, bind, bound_to, is_guid
from sync import health


@bp.post("/mailboxes/<int:mailbox_id>/identity")
def mailbox_identity(mailbox_id: int):
    db = db_session()
    mailbox = _mailbox_or_404(mailbox_id)
    tenant_id = request.form.get("tenant_id", "").strip()
    object_id = request.form.get("object_id", "").strip()
    errors = []
    if tenant_id or object_id:
        for label, value in (("tenant id", tenant_id), ("object id", object_id)):
            if not is_guid(value):
                errors.append(f"The {label} must be a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47, not {value!r}.")
        other = bound_to(db, tenant_id, object_id) if not errors else None
        if other is not None and other.id != mailbox.id:
            errors.append(f"That identity already belongs to {other.email}.")
    if errors:
        return render_template("admin/mailbox.html", mailbox=mailbox, sessions=[], errors=errors,
                               entries=health.open_entries(db, mailbox.id)), 400  # fmt: skip
    before = {"tenant_id": mailbox.entra_tenant_id, "object_id": mailbox.entra_object_id}
    bind(mailbox, tenant_id or None, object_id or None)
    health.resolve(db, mailbox_id=mailbox.id, item_ref=IDENTITY_REF, codes={MISMATCH_CODE})
    audit.record(db, actor=actor(), action="mailbox.identity", target=f"mailbox:{mailbox.email}", before=before,
                 after={"tenant_id": mailbox.entra_tenant_id, "object_id": mailbox.entra_object_id})  # fmt: skip
    db.commit()
    flash(f"{mailbox.email}: " + (f"bound to object id {mailbox.entra_object_id}." if object_id else
                                  "identity cleared; it is learned again at the next add-in sign-in."))  # fmt: skip
    return redirect(url_for("admin.mailbox_detail", mailbox_id=mailbox.id), 303)
