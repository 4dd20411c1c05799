from rest_framework import mixins, pagination, serializers, viewsets
from rest_framework.response import Response

from .models import Post


class PostSerializer(serializers.ModelSerializer):
    class Meta:
        model = Post
        fields = ["id", "title", "body", "author", "status", "views", "created"]
        read_only_fields = ["id", "created"]


class LimitPagination(pagination.BasePagination):
    """A page of `limit` rows; the count is run only when `total=true` asks for it."""

    default_limit = 20
    max_limit = 100

    def paginate_queryset(self, queryset, request, view=None):
        try:
            limit = int(request.query_params.get("limit", self.default_limit))
        except ValueError:
            limit = self.default_limit
        limit = max(1, min(limit, self.max_limit))
        self.total = None
        if request.query_params.get("total") in ("true", "1"):
            self.total = queryset.count()
        return list(queryset[:limit])

    def get_paginated_response(self, data):
        page = {"items": data}
        if self.total is not None:
            page["total"] = self.total
        return Response(page)


class PostViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = PostSerializer
    pagination_class = LimitPagination

    def get_queryset(self):
        queryset = Post.objects.all()
        params = self.request.query_params
        if "status" in params:
            queryset = queryset.filter(status=params["status"])
        if "views_gt" in params:
            queryset = queryset.filter(views__gt=int(params["views_gt"]))
        return queryset.order_by("-created")
