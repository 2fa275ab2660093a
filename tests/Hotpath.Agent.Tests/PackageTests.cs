using System.Diagnostics;
using System.IO.Compression;
using Hotpath.Testing;

namespace Hotpath.Agent.Tests;

/// <summary>Hotpath.Agent ships as a NuGet package a service can reference.</summary>
public sealed class PackageTests : IDisposable
{
    private readonly string _output = Path.Combine(Path.GetTempPath(), "hotpath-pack-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task The_agent_packs_with_its_readme_its_assembly_and_its_dependencies()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])["pack", Path.Combine(TestData.ProjectRoot, "src", "Hotpath.Agent", "Hotpath.Agent.csproj"), "-c", TestData.Configuration, "--no-build", "-o", _output])
            start.ArgumentList.Add(arg);
        using var pack = Process.Start(start)!;
        var output = await pack.StandardOutput.ReadToEndAsync() + await pack.StandardError.ReadToEndAsync();
        await pack.WaitForExitAsync();
        Assert.True(pack.ExitCode == 0, output);

        using var package = ZipFile.OpenRead(Assert.Single(Directory.GetFiles(_output, "Hotpath.Agent.*.nupkg")));
        var entries = package.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("README.md", entries);
        Assert.Contains("lib/net10.0/Hotpath.Agent.dll", entries);
        using var nuspec = new StreamReader(package.GetEntry("Hotpath.Agent.nuspec")!.Open());
        var manifest = await nuspec.ReadToEndAsync();
        Assert.Contains("<readme>README.md</readme>", manifest);
        Assert.Contains("id=\"Hotpath.Pprof\"", manifest);
        Assert.Contains("id=\"Microsoft.Diagnostics.NETCore.Client\"", manifest);
        Assert.Contains("id=\"Microsoft.Diagnostics.Tracing.TraceEvent\"", manifest);
    }

    public void Dispose()
    {
        if (Directory.Exists(_output))
            Directory.Delete(_output, recursive: true);
    }
}
