"""The Django REST Framework peer: a ModelViewSet served by gunicorn's gthread worker.

BENCH_DB=posts.db BENCH_JWT_SECRET=... gunicorn -k gthread drf_app.wsgi
python -m drf_app.load posts.db dataset.json
"""
