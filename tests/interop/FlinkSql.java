// make interop, consumer (b): runs a Flink SQL script on a local Flink
// mini-cluster, one for all jobs (a slot each), which the table environment
// reaches through its REST endpoint as a remote cluster: left to itself,
// the table environment starts a mini-cluster per job, each with its own
// task manager and network buffers, and some 70 of them do not fit in one
// JVM. Run with the Java 17 source launcher:
//
//   java -cp "$FLINK_LIBS/*" FlinkSql.java SCRIPT STATUS_FILE
//
// SCRIPT holds statements ended by ";" at the end of a line. Statements
// other than INSERT run in order (CREATE TABLE …). Each INSERT is submitted
// as its own streaming job, named by the "-- job: NAME" line before it, so
// that a job that fails loses only its own table. Every 2 s STATUS_FILE is
// rewritten with one line per job: NAME, a tab, its state (RUNNING,
// FAILED: <the innermost cause>, …). Runs until killed.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;

public class FlinkSql {
    public static void main(String[] args) throws Exception {
        String script = Files.readString(Path.of(args[0]));
        Path status = Path.of(args[1]);
        int inserts = 0;
        for (String line : script.split("\n")) {
            if (line.startsWith("-- job: ")) {
                inserts++;
            }
        }
        Configuration cluster = new Configuration();
        cluster.setString("rest.bind-address", "127.0.0.1");
        cluster.setString("rest.address", "127.0.0.1");
        cluster.setString("rest.bind-port", "0");
        cluster.setString("taskmanager.memory.network.min", "256mb");
        cluster.setString("taskmanager.memory.network.max", "256mb");
        cluster.setString("taskmanager.memory.managed.size", "64mb");
        MiniCluster mini = new MiniCluster(new MiniClusterConfiguration.Builder()
                .setConfiguration(cluster).setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(inserts + 2).build());
        mini.start();
        java.net.URI rest = mini.getRestAddress().get();
        Configuration client = new Configuration();
        client.setString("execution.target", "remote");
        client.setString("rest.address", rest.getHost());
        client.setString("rest.port", Integer.toString(rest.getPort()));
        client.setString("parallelism.default", "1");
        TableEnvironment env = TableEnvironment.create(
                EnvironmentSettings.newInstance().inStreamingMode().withConfiguration(client).build());
        env.getConfig().set("restart-strategy.type", "none");
        env.getConfig().set("table.local-time-zone", "UTC");

        // name -> its state, kept by a callback on the job's result.
        Map<String, String> jobs = java.util.Collections.synchronizedMap(new LinkedHashMap<>());
        String jobName = null;
        StringBuilder stmt = new StringBuilder();
        for (String line : script.split("\n")) {
            if (line.startsWith("-- job: ")) {
                jobName = line.substring("-- job: ".length()).trim();
                continue;
            }
            if (line.startsWith("--") || line.isBlank()) {
                continue;
            }
            stmt.append(line).append('\n');
            if (!line.stripTrailing().endsWith(";")) {
                continue;
            }
            String sql = stmt.toString().stripTrailing();
            sql = sql.substring(0, sql.length() - 1);
            stmt.setLength(0);
            if (sql.stripLeading().toUpperCase().startsWith("INSERT")) {
                env.getConfig().set("pipeline.name", jobName);
                String name = jobName;
                try {
                    TableResult r = env.executeSql(sql);
                    JobClient c = r.getJobClient().orElseThrow();
                    jobs.put(name, "RUNNING");
                    c.getJobExecutionResult().whenComplete((res, err) -> jobs.put(name,
                            err == null ? "FINISHED" : "FAILED: " + innermost(err)));
                } catch (Exception e) {
                    jobs.put(name, "FAILED at submission: " + innermost(e));
                }
            } else {
                env.executeSql(sql);
            }
        }
        while (true) {
            List<String> lines = new ArrayList<>();
            synchronized (jobs) {
                for (Map.Entry<String, String> j : jobs.entrySet()) {
                    lines.add(j.getKey() + "\t" + j.getValue());
                }
            }
            Path tmp = Path.of(status + ".tmp");
            Files.write(tmp, lines);
            Files.move(tmp, status, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                       java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            Thread.sleep(2000);
        }
    }

    static String innermost(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String m = t.getClass().getSimpleName() + ": " + t.getMessage();
        m = m.replace('\n', ' ').replace('\t', ' ');
        return m.length() > 400 ? m.substring(0, 400) : m;
    }
}
