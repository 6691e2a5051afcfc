import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/** A web app on the JDK's own HTTP server; the test (or `make-jar.sh`) builds it into app.jar. */
public class Main {
  public static void main(String[] args) throws Exception {
    String host = System.getenv().getOrDefault("HOST", "0.0.0.0");
    int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
    HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
    server.createContext("/", exchange -> {
      byte[] body = ("Hello from berth's Java example (Java " + Runtime.version() + ")\n")
          .getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().set("Content-Type", "text/plain");
      exchange.sendResponseHeaders(200, body.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    });
    server.start();
    System.out.println("listening on " + host + ":" + port);
  }
}
