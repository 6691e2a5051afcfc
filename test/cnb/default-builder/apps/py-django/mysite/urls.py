from importlib.metadata import version

from django.http import HttpResponse
from django.urls import path


def hello(request):
    return HttpResponse(f"Hello from py-django: Django {version('django')}, gunicorn {version('gunicorn')}\n", content_type="text/plain")


urlpatterns = [path("", hello)]
