using System.Reflection;
using Engine.Core;
using NUnit.Framework;

namespace Engine.Tests.OpenCL;

/// <summary>
/// Every registered layer type either has device code (its class, or a base between it and
/// Layer, overrides RunsOnDevice, ForwardOn and BackwardOn — each tested by DeviceLayerCheck in its
/// group's *DeviceTests) or is listed here with the reason it runs on the host in a device net.
/// A new layer without device code fails this test until it is listed.
/// </summary>
public class DeviceCoverageTests
{
    /// <summary>Layer types whose host code runs on device nets, and why.</summary>
    private static readonly Dictionary<string, string> HostOnly = new()
    {
        // Data sources read files or the host's memory; Net starts the upload of their tops
        // without waiting (BlobMemory.UploadAsync), so the next layer finds them on the device.
        ["Data"] = "reads a database or IDX files on the host",
        ["ImageData"] = "decodes image files on the host",
        ["WindowData"] = "decodes image windows on the host",
        ["HDF5Data"] = "reads HDF5 files on the host",
        ["MemoryData"] = "copies from host arrays",
        ["DummyData"] = "fills from the host's generator (the same numbers as on the CPU)",
        ["Input"] = "its values are set by the caller on the host",
        ["HDF5Output"] = "writes HDF5 files on the host",
        // Not written yet: the generic multi-mode loss; the loss primitives it needs exist
        // (IBackend.Loss.cs), the wiring of its per-position weights does not.
    };

    private static IEnumerable<Type> LayerTypes() =>
        typeof(Layer).Assembly.GetTypes().Where(t => !t.IsAbstract && typeof(Layer).IsAssignableFrom(t) && t.GetCustomAttributes<LayerTypeAttribute>().Any());

    private static bool Overrides(Type t, string member)
    {
        for (var c = t; c != null && c != typeof(Layer); c = c.BaseType)
            if (c.GetMember(member, BindingFlags.Instance | BindingFlags.Public | BindingFlags.DeclaredOnly).Length > 0) return true;
        return false;
    }

    [Test]
    public void EveryLayerTypeHasDeviceCodeOrIsListedWithItsReason()
    {
        var missing = new List<string>();
        foreach (var t in LayerTypes())
            foreach (var name in t.GetCustomAttributes<LayerTypeAttribute>().Select(a => a.Type))
            {
                bool device = Overrides(t, nameof(Layer.RunsOnDevice)) && Overrides(t, nameof(Layer.ForwardOn));
                if (HostOnly.ContainsKey(name))
                    Assert.That(device, Is.False, $"{name} has device code now: remove it from the host-only list");
                else if (!device) missing.Add($"{name} ({t.Name})");
            }
        Assert.That(missing, Is.Empty, "layer types with neither device code nor a listed reason");
    }
}
