import secrets

from django.db import models
from django.utils import timezone


def new_id() -> str:
    return secrets.token_hex(8)[:15]


class Post(models.Model):
    STATUSES = [("draft", "draft"), ("published", "published"), ("archived", "archived")]

    id = models.CharField(primary_key=True, max_length=15, default=new_id, editable=False)
    title = models.CharField(max_length=200)
    body = models.TextField(max_length=10_000, blank=True, default="")
    author = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(max_length=16, choices=STATUSES, default="draft")
    views = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        app_label = "drf_app"
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["-created"], name="posts_created"),
            models.Index(fields=["status", "-created"], name="posts_status_created"),
        ]
