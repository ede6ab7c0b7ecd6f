// aedes, an MQTT 3.1.1 broker: `node aedes_broker.js PORT` listens on 127.0.0.1:PORT.
// It answers an MQTT 5 CONNECT with "unacceptable protocol version" (CONNACK return code 1).
const { Aedes } = require('aedes');
const net = require('net');

(async () => {
  const broker = await Aedes.createBroker();
  net.createServer(broker.handle).listen(parseInt(process.argv[2], 10), '127.0.0.1',
    () => console.log('listening'));
})();
