using Engine.Proto;

namespace Engine.OpenCL;

/// <summary>
/// Caffe's device selection resolved to an OpenCL device: `--gpu N` (also `-gpu N`; Caffe's
/// `-gpu all` and `-gpu 0,1` take the first device and say so, as there is one device per
/// process here) and the solver's `solver_mode: GPU` with `device_id`.
/// </summary>
/// <param name="Device">the chosen device</param>
/// <param name="Requested">what was asked, as the user wrote it ("--gpu 0", "solver_mode: GPU, device_id: 1")</param>
/// <param name="Note">a remark to log with the selection (multi-device requests), or null</param>
public sealed record DeviceSelection(OpenCLDeviceInfo Device, string Requested, string? Note)
{
    /// <summary>"--gpu 0 (Portable Computing Language: pthread-…)", for log lines.</summary>
    public string Describe() => $"{Requested} ({Device.Describe()})";

    /// <summary>Resolves a `--gpu` value against this machine's devices; a value that names no
    /// device is an <see cref="EngineException"/> naming what was asked and what exists.</summary>
    public static DeviceSelection FromFlag(string value) => FromFlag(value, OpenCLDevices.All, OpenCLDevices.WhyNone);

    /// <summary><see cref="FromFlag(string)"/> against a given device list (<paramref name="whyNone"/> explains an empty one).</summary>
    public static DeviceSelection FromFlag(string value, IReadOnlyList<OpenCLDeviceInfo> devices, string? whyNone)
    {
        var requested = $"--gpu {value}";
        var text = value.Trim();
        string? note = null;
        int index;
        if (text.Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            index = 0;
            note = devices.Count > 1 ? $"{requested}: one device per process here; using device 0 of {devices.Count}" : null;
        }
        else
        {
            var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var ids = new List<int>();
            foreach (var part in parts)
            {
                if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id))
                    throw new EngineException($"{requested}: expected a device number (see `engine device-query`), a comma-separated list or \"all\"");
                ids.Add(id);
            }
            if (ids.Count == 0)
                throw new EngineException($"{requested}: expected a device number (see `engine device-query`), a comma-separated list or \"all\"");
            index = ids[0];
            if (ids.Count > 1) note = $"{requested}: one device per process here; using device {index} only";
        }
        return new DeviceSelection(Pick(requested, index, devices, whyNone), requested, note);
    }

    /// <summary>
    /// The device of a solver's explicit `solver_mode: GPU` (its `device_id`, default 0), or null
    /// when the solver does not ask for one. A device that does not exist is no error here (Caffe's own solver
    /// files say GPU): <paramref name="problem"/> says why, for a one-line warning, and the caller
    /// stays on the CPU.
    /// </summary>
    public static DeviceSelection? FromSolver(SolverParameter solver, out string? problem) =>
        FromSolver(solver, OpenCLDevices.All, OpenCLDevices.WhyNone, out problem);

    public static DeviceSelection? FromSolver(SolverParameter solver, IReadOnlyList<OpenCLDeviceInfo> devices, string? whyNone, out string? problem)
    {
        problem = null;
        // As Caffe's `caffe train`: only a solver_mode written in the file counts (the field's default is GPU).
        if (!solver.HasSolverMode || solver.SolverMode != SolverParameter.Types.SolverMode.Gpu) return null;
        int id = solver.DeviceId;
        var requested = solver.HasDeviceId ? $"solver_mode: GPU, device_id: {id}" : "solver_mode: GPU";
        try
        {
            return new DeviceSelection(Pick(requested, id, devices, whyNone), requested, null);
        }
        catch (EngineException e)
        {
            problem = e.Message;
            return null;
        }
    }

    private static OpenCLDeviceInfo Pick(string requested, int index, IReadOnlyList<OpenCLDeviceInfo> devices, string? whyNone)
    {
        if (devices.Count == 0)
            throw new EngineException($"{requested}: no OpenCL device found ({whyNone ?? "none listed"})");
        if (index < 0 || index >= devices.Count)
        {
            var list = string.Join("; ", devices.Select(d => $"{d.Index} = {d.Describe()}"));
            throw new EngineException($"{requested}: there is no OpenCL device {index}; this machine has {devices.Count}: {list}");
        }
        return devices[index];
    }
}
