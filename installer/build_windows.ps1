# Windows: dist\unmasker\ (folder bundle) and dist\Unmasker-VERSION-Setup.exe (Inno Setup 6).
# Run in PowerShell from the project root, with Python 3.11 and Inno Setup 6 installed:
#   powershell -ExecutionPolicy Bypass -File installer\build_windows.ps1 [-Cuda]
param([switch]$Cuda)
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")
# Its own environment with the run-time packages only (a development .venv holds training tools).
if (-not (Test-Path build\venv\Scripts\python.exe)) { py -3.11 -m venv build\venv }
build\venv\Scripts\python -m pip install --upgrade pip
if ($Cuda) {
    # NVIDIA flavour: torch's CUDA 12 build (about 2.5 GB more in the bundle).
    build\venv\Scripts\python -m pip install torch --index-url https://download.pytorch.org/whl/cu126
} else {
    build\venv\Scripts\python -m pip install torch --index-url https://download.pytorch.org/whl/cpu
}
build\venv\Scripts\python -m pip install ".[build]"
$version = (build\venv\Scripts\python -c "import app; print(app.__version__)").Trim()
$sw = [Diagnostics.Stopwatch]::StartNew()
build\venv\Scripts\pyinstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller installer\unmasker.spec
Write-Host "build: $($sw.Elapsed.TotalSeconds) s"
# Smoke test from inside the bundle (disconnect the network first to prove nothing downloads).
dist\unmasker\unmasker.exe --self-test
if ($LASTEXITCODE -ne 0) { throw "self-test failed" }
$iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe"
& $iscc "/DAppVersion=$version" installer\unmasker.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
Get-ChildItem dist\*.exe | ForEach-Object { "{0}: {1:N0} MB" -f $_.Name, ($_.Length / 1MB) }
