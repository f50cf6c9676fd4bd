# The dashboard in a container: CPU-only torch, the embedded default model, no network needed at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/insitu

# CPU wheels of the pinned torch/torchvision come from the PyTorch CPU index; the rest from PyPI. Ray and Flower
# (requirements-ray.txt, which includes requirements.txt) run sweeps and the Improve together page's federated runs.
COPY requirements.txt requirements-ray.txt ./
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1 \
 && pip install -r requirements-ray.txt

COPY core ./core
COPY app ./app
COPY assets ./assets
COPY .streamlit ./.streamlit
COPY pyproject.toml README.md ./

RUN useradd --create-home insitu && chown -R insitu /srv/insitu
USER insitu
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"
CMD ["streamlit", "run", "app/main.py", "--server.address=0.0.0.0", "--server.port=8501"]
