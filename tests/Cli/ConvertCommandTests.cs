using Engine.IO;
using Engine.Tests.Support;
using NUnit.Framework;

namespace Engine.Tests.Cli;

/// <summary>`engine convert` and `engine compute-mean`: their command lines and one-line errors (LMDB cases in LmdbTests).</summary>
[TestFixture]
[NonParallelizable]
public class ConvertCommandLmdbTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        if (!Lmdb.IsAvailable) Assert.Ignore("liblmdb is not installed (Debian: apt-get install liblmdb0); CI installs it");
        _dir = Path.Combine(Path.GetTempPath(), "engine-convert-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir()
    {
        if (_dir.Length > 0 && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public void ConvertsAndRefusesToOverwrite()
    {
        var (images, labels) = IdxFiles.WriteLearnable(Path.Combine(_dir, "idx"), 1500, 4, 4, 3);
        var db = Path.Combine(_dir, "out_lmdb");
        var (code, stdout, stderr) = EngineRunner.Run("convert", "-idx", images, labels, db);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("Processed 1000 files."));
        using (var r = new LmdbReader(db)) Assert.That(r.Count, Is.EqualTo(1500));
        (code, _, stderr) = EngineRunner.Run("convert", "--idx", images, labels, db);
        Assert.That((code, stderr.Trim()), Is.EqualTo((1, $"error: \"{db}\" already exists; give a new path for the database")));
    }

    [Test]
    public void CommandLineMistakes()
    {
        var (images, labels) = IdxFiles.WriteLearnable(Path.Combine(_dir, "idx"), 3, 4, 4, 3);
        string Err(params string[] a) { var (code, _, e) = EngineRunner.Run(a); Assert.That(code, Is.EqualTo(1)); return e.Trim(); }
        Assert.That(Err("convert", images, labels, "x"), Does.Contain("--idx IMAGES LABELS OUTPUT_DB"));
        Assert.That(Err("convert", "--idx", images, labels), Does.Contain("got 2 argument(s)"));
        Assert.That(Err("convert", "--idx", images, "--backend", "leveldb", labels, "x"), Does.Contain("--backend leveldb is not supported"));
        Assert.That(Err("convert", "--idx", labels, images, Path.Combine(_dir, "o")), Does.StartWith("error: engine convert: images"));
        Assert.That(Err("compute-mean", Path.Combine(_dir, "none"), "m.binaryproto"), Does.Contain("no such LMDB database"));
        Assert.That(Err("compute-mean", "a"), Does.Contain("expects DB OUTPUT.binaryproto"));
        var (help, stdout, _) = EngineRunner.Run("--help");
        Assert.That((help, stdout), Is.EqualTo((0, stdout)));
        Assert.That(stdout, Does.Contain("convert").And.Contain("compute-mean"));
    }
}
