; Inno Setup 6 script: installs dist\unmasker\ into Program Files with a Start menu entry.
; Built by installer\build_windows.ps1 (ISCC /DAppVersion=X.Y.Z installer\unmasker.iss).
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{5E0B7C1D-8B7E-4B8E-9C4C-6D1F4A2B9E11}
AppName=Unmasker
AppVersion={#AppVersion}
AppPublisher=Unmasker developers
DefaultDirName={autopf}\Unmasker
DefaultGroupName=Unmasker
OutputDir=..\dist
OutputBaseFilename=Unmasker-{#AppVersion}-Setup
SetupIconFile=..\resources\icons\unmasker.ico
Compression=lzma2/ultra64
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog

[Files]
Source: "..\dist\unmasker\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\Unmasker"; Filename: "{app}\unmasker.exe"; IconFilename: "{app}\_internal\resources\icons\unmasker.ico"
Name: "{autodesktop}\Unmasker"; Filename: "{app}\unmasker.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop icon"; Flags: unchecked

[Run]
Filename: "{app}\unmasker.exe"; Description: "Start Unmasker"; Flags: nowait postinstall skipifsilent
