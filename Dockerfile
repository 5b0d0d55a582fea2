# The Hugging Face Space (README front matter: `sdk: docker`, `app_port: 8501`), or any container host:
#   docker build -t digit-detector . && docker run --rm -p 8501:8501 digit-detector
# Only the app's requirements go in (no training or test packages). requirements.txt (the default) serves
# the torch backend, with torch from PyTorch's CPU wheel index (no CUDA libraries); the leanest image
# serves onnxruntime alone, without torch (the app then leaves out the "Your style" page):
#   docker build --build-arg REQUIREMENTS=requirements-onnx.txt -t digit-detector:onnx .
FROM python:3.11-slim

ARG REQUIREMENTS=requirements.txt
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Dependencies first (their own layer, rebuilt only when a requirements file changes). torch and
# torchvision, at the versions the requirements pin, come from the CPU index; everything else from PyPI
# (torch==X is then already met by X+cpu).
COPY requirements.txt requirements-onnx.txt /tmp/requirements/
RUN set -eux; \
    cd /tmp/requirements; \
    grep -E '^(torch|torchvision)==' "$REQUIREMENTS" > torch.txt || true; \
    if [ -s torch.txt ]; then pip install --index-url "$TORCH_INDEX_URL" -r torch.txt; fi; \
    pip install -r "$REQUIREMENTS"; \
    rm -rf /tmp/requirements

# Spaces run the container as uid 1000: the app's folder belongs to that user (the "Improve the model"
# page writes data/feedback there when no S3 bucket is configured).
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH
WORKDIR /home/user/app
COPY --chown=user . .

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
# .streamlit/config.toml (copied with the app) sets headless serving and no file watcher.
CMD ["streamlit", "run", "app.py", "--server.port", "8501", "--server.address", "0.0.0.0"]
