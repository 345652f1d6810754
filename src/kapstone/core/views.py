from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from kapstone.core.permissions import public, signed_in


@signed_in
def home(request):
    return render(request, "core/home.html")


@public
def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
