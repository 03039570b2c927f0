// Example: a Qt console client of m7bridged (QLocalSocket + QJsonDocument). Watches
// frames and link states, prints them, and reconnects whenever the daemon restarts.
// Usage: m7watch-qt [--socket PATH] [--port N] [--count N]
#include <QByteArray>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocalSocket>
#include <QTextStream>
#include <QTimer>

int main(int argc, char **argv)
{
	QCoreApplication app(argc, argv);
	QCoreApplication::setApplicationName("m7watch-qt");

	QCommandLineParser cli;
	cli.setApplicationDescription("Watch frames and states from m7bridged.");
	cli.addHelpOption();
	QString dflt = qEnvironmentVariable("M7BRIDGE_SOCKET", "/run/m7bridge/m7bridge.sock");
	cli.addOption({"socket", "Daemon socket.", "path", dflt});
	cli.addOption({"port", "Only frames of this UART port.", "n"});
	cli.addOption({"count", "Exit after this many frames.", "n", "0"});
	cli.process(app);

	const QString path = cli.value("socket");
	const int port = cli.isSet("port") ? cli.value("port").toInt() : -1;
	const int count = cli.value("count").toInt();
	int frames = 0;
	QTextStream out(stdout);
	// retry outlives sock: the socket's destructor still emits stateChanged.
	QTimer retry;
	QLocalSocket sock;
	retry.setSingleShot(true);
	retry.setInterval(1000);

	QObject::connect(&retry, &QTimer::timeout, [&] {
		if (sock.state() == QLocalSocket::UnconnectedState)
			sock.connectToServer(path);
	});
	// Whatever ended the connection (or made it fail), try again in a second.
	QObject::connect(&sock, &QLocalSocket::stateChanged,
			 [&](QLocalSocket::LocalSocketState st) {
				 if (st == QLocalSocket::UnconnectedState && !retry.isActive())
					 retry.start();
			 });

	// Every (re)connection sends the watch again; the daemon then replays each channel's
	// current STATE, so the client never has to guess.
	QObject::connect(&sock, &QLocalSocket::connected, [&] {
		QJsonObject req{
			{"cmd", "watch"}, {"id", 1}, {"classes", QJsonArray{"FRAME", "STATE"}}};
		if (port >= 0)
			req["ports"] = QJsonArray{port};
		sock.write(QJsonDocument(req).toJson(QJsonDocument::Compact) + '\n');
	});

	QObject::connect(&sock, &QLocalSocket::readyRead, [&] {
		while (sock.canReadLine()) {
			QJsonParseError err;
			const QJsonDocument doc = QJsonDocument::fromJson(sock.readLine(), &err);
			if (!doc.isObject()) {
				out << "bad line from daemon: " << err.errorString() << Qt::endl;
				continue;
			}
			const QJsonObject o = doc.object();
			const QString cls = o.value("class").toString();
			if (cls == "VERSION") {
				out << "connected to m7bridged " << o.value("release").toString()
				    << Qt::endl;
			} else if (cls == "STATE") {
				out << "state " << o.value("channel").toString() << ": "
				    << o.value("state").toString() << " ("
				    << o.value("reason").toString() << ")" << Qt::endl;
			} else if (cls == "FRAME") {
				const QByteArray data = QByteArray::fromBase64(
					o.value("data").toString().toLatin1());
				out << "frame " << o.value("channel").toString() << "/"
				    << o.value("port").toInt() << " seq "
				    << static_cast<qint64>(o.value("seq").toDouble()) << ": "
				    << data.size()
				    << " bytes: " << QString::fromUtf8(data).trimmed() << Qt::endl;
				if (count > 0 && ++frames >= count) {
					QCoreApplication::exit(0);
					return;
				}
			} else if (cls == "ERROR") {
				out << "error " << o.value("code").toString() << ": "
				    << o.value("message").toString() << Qt::endl;
				QCoreApplication::exit(1);
				return;
			}
		}
	});

	QObject::connect(&sock, &QLocalSocket::disconnected,
			 [&] { out << "daemon went away; reconnecting" << Qt::endl; });
	QObject::connect(
		&sock, &QLocalSocket::errorOccurred, [&](QLocalSocket::LocalSocketError e) {
			if (e != QLocalSocket::PeerClosedError)
				out << "cannot connect to " << path << ": " << sock.errorString()
				    << "; retrying" << Qt::endl;
			if (sock.state() == QLocalSocket::UnconnectedState && !retry.isActive())
				retry.start();
		});

	sock.connectToServer(path);
	return app.exec();
}
